ruby -Itest test/test_calc.rb
exit=1
