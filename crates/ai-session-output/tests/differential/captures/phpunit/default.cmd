phpunit tests
exit=2
