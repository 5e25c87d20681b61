#!/bin/sh
# Entry point of the demo's nginx service.
set -eu
mkdir -p /tmp/nginx
sed -e "s/@PORT@/$PORT/g" -e "s/@BACKEND_PORT@/$BACKEND_PORT/g" \
    -e "s/@FRONTEND_PORT@/$FRONTEND_PORT/g" -e "s/@TLS_PORT@/$TLS_PORT/g" /app/nginx-proxy.conf > /tmp/nginx/nginx.conf
exec nginx -p /tmp/nginx -c /tmp/nginx/nginx.conf -g 'daemon off;'
