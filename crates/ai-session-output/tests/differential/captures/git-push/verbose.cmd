cd work && git push -v origin main
exit=1
