ss -tln 'sport = :47311 or sport = :47312'
exit=0
