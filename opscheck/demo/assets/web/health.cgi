#!/bin/sh
# Health endpoint of the demo web services, run by busybox httpd as CGI.
# Files in /tmp/faults switch on faults: "slow" delays the answer by 400 ms,
# "unhealthy" answers 503.
read -r start _ < /proc/uptime

if [ -e /tmp/faults/slow ]; then
    usleep 400000
fi

if [ -e /tmp/faults/unhealthy ]; then
    status=503
    printf 'Status: 503 Service Unavailable\r\n'
    body='{"status":"unhealthy"}'
else
    status=200
    printf 'Status: 200 OK\r\n'
    body='{"status":"healthy"}'
fi
printf 'Content-Type: application/json\r\nCache-Control: no-store\r\n\r\n%s\n' "$body"

read -r end _ < /proc/uptime
# /proc/uptime counts in hundredths of a second, so durations are multiples of 10 ms.
duration=$(( (${end%.*}${end#*.} - ${start%.*}${start#*.}) * 10 ))
level=INFO
[ "$status" -ge 500 ] && level=WARNING
printf '%s %s %s %s %s %s %sms\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$level" \
    "$SERVICE_NAME" "$REQUEST_METHOD" "${HTTP_X_ORIGINAL_URI:-/api/health}" \
    "$status" "$duration" > /proc/1/fd/1
