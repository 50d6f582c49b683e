ruby test/test_calc.rb --seed 7
exit=1
