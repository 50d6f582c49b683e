ps -fp 1
exit=0
