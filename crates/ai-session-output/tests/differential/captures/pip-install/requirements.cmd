pip install --no-index -r requirements.txt
exit=1
