package validate

import (
	"context"
	"slices"
	"testing"
)

// Progress counts decoder layers: both models' in an end-to-end run, the
// compared layers in a layer-wise one, always ending at the total.
func TestProgress(t *testing.T) {
	ref, cand := open(t, tinyDir), open(t, tinyDir)
	var calls [][2]int64
	record := func(done, total int64) { calls = append(calls, [2]int64{done, total}) }
	if _, err := EndToEnd(context.Background(), ref, cand, []int{1, 2, 3}, Options{Progress: record}); err != nil {
		t.Fatal(err)
	}
	if want := [][2]int64{{1, 4}, {2, 4}, {3, 4}, {4, 4}}; !slices.Equal(calls, want) {
		t.Errorf("end to end: progress %v, want %v", calls, want)
	}
	calls = nil
	if _, err := LayerWise(context.Background(), ref, cand, LayerWiseOptions{Options: Options{Progress: record}, States: "random", Samples: 4}); err != nil {
		t.Fatal(err)
	}
	if want := [][2]int64{{1, 2}, {2, 2}}; !slices.Equal(calls, want) {
		t.Errorf("layer-wise: progress %v, want %v", calls, want)
	}
}
