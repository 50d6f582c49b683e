ruby test/test_calc.rb -v --seed 7
exit=1
