pytest
exit=1
