cd work && git push -u origin main
exit=1
