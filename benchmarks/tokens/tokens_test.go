package tokens

import "testing"

func TestApprox(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int
		why  string
	}{
		{"", 0, "empty"},
		{"   \n\t", 0, "white space only"},
		{"the cat sat", 3, "three short Latin words: 1 each"},
		{"international", 3, "13 Latin letters: ceil(13/5) = 3"},
		{"Hello, world!", 4, "hello 1 + ',' 1 + world 1 + '!' 1"},
		{"12345", 2, "5 digits: ceil(5/3) = 2"},
		{"abc123", 2, "run 'abc' 1 + run '123' 1"},
		{"机器学习", 4, "4 Han characters"},
		{"ひらがなカタカナ", 8, "8 kana"},
		{"김치", 2, "2 Hangul syllables"},
		{"привет", 2, "6 Cyrillic letters: ceil(6/3) = 2"},
		{"café", 1, "4 Latin letters incl. é: 1"},
		{"नमस्ते", 2, "6 Devanagari code points (letters and marks): ceil(6/3) = 2"},
		{"🙂", 1, "a symbol"},
		{"¿Qué?", 3, "¿ 1 + 'Qué' 1 + ? 1"},
	}
	for _, tt := range tests {
		if got := Approx(tt.in); got != tt.want {
			t.Errorf("Approx(%q) = %d, want %d (%s)", tt.in, got, tt.want, tt.why)
		}
	}
}

func FuzzApprox(f *testing.F) {
	f.Add("Hello, 世界! 123 привет")
	f.Fuzz(func(t *testing.T, s string) {
		n := Approx(s)
		if n < 0 || n > len([]rune(s)) {
			t.Fatalf("Approx(%q) = %d, outside [0, runes]", s, n)
		}
		// Joining two texts with a space never loses tokens.
		if got := Approx(s + " " + s); got != 2*n {
			t.Fatalf("Approx(s+\" \"+s) = %d, want %d", got, 2*n)
		}
	})
}
