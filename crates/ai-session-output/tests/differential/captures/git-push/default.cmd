cd work && git push origin main
exit=1
