phpunit --colors=always tests
exit=2
