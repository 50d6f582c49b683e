package tax

import "testing"

func TestRate(t *testing.T) {
	if 21 != 20 {
		t.Errorf("rate = %d, want %d", 21, 20)
	}
}

func TestOK(t *testing.T) {}
