package statuspage

import (
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/toolwatch/toolwatch/alert"
)

func ids(as []alert.Alert) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.ID
	}
	return out
}

func TestRecorder(t *testing.T) {
	tests := []struct {
		name string
		size int
		add  int
		want []string
	}{
		{"empty", 3, 0, []string{}},
		{"partial", 3, 2, []string{"1", "0"}},
		{"exactly full", 3, 3, []string{"2", "1", "0"}},
		{"wrapped", 3, 5, []string{"4", "3", "2"}},
		{"wrapped twice", 3, 7, []string{"6", "5", "4"}},
		{"size one", 1, 4, []string{"3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRecorder(tt.size)
			for i := range tt.add {
				r.Add(alert.Alert{ID: strconv.Itoa(i)})
			}
			got := ids(r.Recent())
			if !slices.Equal(got, tt.want) {
				t.Errorf("Recent() = %v, want %v", got, tt.want)
			}
			if r.Len() != len(tt.want) {
				t.Errorf("Len() = %d, want %d", r.Len(), len(tt.want))
			}
		})
	}
}

func TestRecorderDefaultSize(t *testing.T) {
	for _, n := range []int{0, -5} {
		r := NewRecorder(n)
		for i := range DefaultRecent + 10 {
			r.Add(alert.Alert{ID: strconv.Itoa(i)})
		}
		got := r.Recent()
		if len(got) != DefaultRecent {
			t.Fatalf("NewRecorder(%d) kept %d, want %d", n, len(got), DefaultRecent)
		}
		if got[0].ID != strconv.Itoa(DefaultRecent+9) || got[DefaultRecent-1].ID != "10" {
			t.Errorf("NewRecorder(%d): newest %s oldest %s", n, got[0].ID, got[DefaultRecent-1].ID)
		}
	}
}

// TestRecorderRecentIsACopy: callers (the snapshot builder) may hold the
// slice while the pipeline keeps adding.
func TestRecorderRecentIsACopy(t *testing.T) {
	r := NewRecorder(2)
	r.Add(alert.Alert{ID: "a"})
	got := r.Recent()
	r.Add(alert.Alert{ID: "b"})
	r.Add(alert.Alert{ID: "c"})
	if got[0].ID != "a" {
		t.Errorf("earlier Recent() result changed to %v", ids(got))
	}
}

// TestRecorderConcurrent is meaningful under -race; it also checks that
// every snapshot is newest first with no gaps.
func TestRecorderConcurrent(t *testing.T) {
	r := NewRecorder(16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 2000 {
			r.Add(alert.Alert{ID: strconv.Itoa(i)})
		}
	}()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				got := r.Recent()
				for j := 1; j < len(got); j++ {
					a, _ := strconv.Atoi(got[j-1].ID)
					b, _ := strconv.Atoi(got[j].ID)
					if a != b+1 {
						t.Errorf("not consecutive newest first: %v", ids(got))
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if got := ids(r.Recent()); got[0] != "1999" || len(got) != 16 {
		t.Errorf("final Recent() = %v", got)
	}
}
