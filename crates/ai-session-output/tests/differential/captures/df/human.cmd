df -h / /dev
exit=0
