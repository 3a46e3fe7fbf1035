FROM busybox
ONBUILD COPY --from=onbuild-rel:1 /release /out/release2
