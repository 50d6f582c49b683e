ps -o pid,user,%cpu,%mem,args -p 1
exit=0
