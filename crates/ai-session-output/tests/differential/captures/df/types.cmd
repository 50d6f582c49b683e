df -hT / /dev
exit=0
