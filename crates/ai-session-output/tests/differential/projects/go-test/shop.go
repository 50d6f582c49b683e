package shop

func Total(prices []int) int {
	t := 0
	for _, p := range prices {
		t += p
	}
	return t
}

func Discount(price, pct int) int {
	return price - price*pct/100
}
