go vet -copylocks .
exit=2
