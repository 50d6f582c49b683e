phpunit --stop-on-failure tests
exit=1
