// Package plural words counts in English for messages: "1 user", "2 users". Every message that
// counts something uses it, so that none says "1 users" or hedges with "user(s)".
package plural

import "strconv"

// Count says n and noun, the noun plural unless n is 1: "1 key", "2 keys", "0 keys". The plural
// adds "s"; give Choose the two forms when it does not.
func Count(n int, noun string) string {
	return strconv.Itoa(n) + " " + Noun(n, noun)
}

// Noun is noun, or noun with "s" unless n is 1, without the number.
func Noun(n int, noun string) string {
	return Choose(n, noun, noun+"s")
}

// Choose returns one when n is 1, else many: for words and phrases whose plural is not an
// added "s" ("finding counts", "findings count").
func Choose(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
