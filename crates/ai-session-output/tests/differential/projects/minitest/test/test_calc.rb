require "minitest/autorun"
require_relative "truth_reporter" if ENV["MINITEST_TRUTH"]

class CalcTest < Minitest::Test
  def test_add
    assert_equal 3, 1 + 2
  end

  def test_add_negative
    assert_equal(-3, -1 + -1)
  end

  def test_divide
    assert_equal 0, 1 / 0
  end

  def test_skipped
    skip "needs a server"
  end

  def test_upcase
    assert_equal "A", "a".upcase
  end

  def test_concat
    assert_equal "abc", "a" + "b", "concatenation"
  end
end
