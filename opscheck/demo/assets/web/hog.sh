#!/bin/sh
# Busy loop that keeps one CPU core at about 100 % until its pid file is removed.
echo $$ > /tmp/faults/cpu-hog.pid
while [ -e /tmp/faults/cpu-hog.pid ]; do :; done
