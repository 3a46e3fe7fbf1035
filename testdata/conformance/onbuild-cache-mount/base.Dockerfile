FROM busybox
ONBUILD RUN --mount=type=cache,id=onbuild-cache-mount,target=/cache echo -n 42 >> /cache/foo && echo -n 11 >> /bar
