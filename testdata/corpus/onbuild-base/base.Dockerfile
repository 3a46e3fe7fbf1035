FROM busybox
RUN mkdir -p /app
WORKDIR /app
ONBUILD COPY src/ /app/src/
ONBUILD RUN ls /app/src > /app/manifest
