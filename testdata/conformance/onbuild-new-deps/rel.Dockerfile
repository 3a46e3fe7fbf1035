FROM busybox
RUN echo -n release > /release
