tsc -p tsconfig.json
exit=2
