FROM onbuild-base:1
