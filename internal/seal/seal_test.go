package seal_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/vaspgate/vaspgate/internal/seal"
)

func mustKey(t *testing.T) []byte {
	t.Helper()
	k, err := seal.ParseKey(seal.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	k, err := seal.New(mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, plain := range [][]byte{nil, []byte(""), []byte("Taylor Robbins"), bytes.Repeat([]byte{0xff}, 1<<16)} {
		sealed, err := k.Seal(plain, []byte("customer:1/first_name"))
		if err != nil {
			t.Fatal(err)
		}
		if len(plain) > 4 && bytes.Contains(sealed, plain) {
			t.Fatal("sealed value contains the plaintext")
		}
		got, err := k.Open(sealed, []byte("customer:1/first_name"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("Open = %q, want %q", got, plain)
		}
	}
}

func TestNoncesDiffer(t *testing.T) {
	t.Parallel()
	k, _ := seal.New(mustKey(t))
	a, _ := k.Seal([]byte("same"), nil)
	b, _ := k.Seal([]byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical")
	}
}

func TestTamperAndContext(t *testing.T) {
	t.Parallel()
	k, _ := seal.New(mustKey(t))
	sealed, _ := k.Seal([]byte("1990-01-01"), []byte("row-1"))
	tests := []struct {
		name   string
		sealed []byte
		ad     string
	}{
		{"flipped ciphertext bit", flip(sealed, len(sealed)-1), "row-1"},
		{"flipped nonce bit", flip(sealed, 6), "row-1"},
		{"flipped key id", flip(sealed, 2), "row-1"},
		{"wrong version", flip(sealed, 0), "row-1"},
		{"other row", sealed, "row-2"},
		{"truncated", sealed[:10], "row-1"},
		{"empty", nil, "row-1"},
	}
	for _, tt := range tests {
		if _, err := k.Open(tt.sealed, []byte(tt.ad)); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("%s: Open error = %v, want ErrOpen", tt.name, err)
		}
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := mustKey(t), mustKey(t)
	before, _ := seal.New(oldKey)
	sealedOld, _ := before.Seal([]byte("kept"), nil)

	after, err := seal.New(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := after.Open(sealedOld, nil); err != nil || string(got) != "kept" {
		t.Fatalf("old value after rotation = %q, %v", got, err)
	}
	if !after.NeedsReseal(sealedOld) {
		t.Fatal("value sealed with the old key does not need resealing")
	}
	sealedNew, _ := after.Seal([]byte("new"), nil)
	if after.NeedsReseal(sealedNew) {
		t.Fatal("value sealed with the current key needs resealing")
	}
	if _, err := before.Open(sealedNew, nil); !errors.Is(err, seal.ErrOpen) {
		t.Fatalf("keyring without the new key opened a new value: %v", err)
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "not base64!", "c2hvcnQ="} {
		if _, err := seal.ParseKey(in); err == nil {
			t.Errorf("ParseKey(%q) accepted", in)
		}
	}
	if _, err := seal.New([]byte("short")); err == nil {
		t.Error("New accepted a short key")
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x01
	return c
}
