git -c color.status=always status
exit=0
