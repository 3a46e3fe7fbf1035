FROM busybox
ONBUILD RUN mkdir -p /out && echo -n 11 >> /out/foo
