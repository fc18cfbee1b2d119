// Command fidelitytable prints the Markdown fidelity table of
// scripts/fidelity.sh from `mxq validate --json` reports. Each argument is
// LABEL=REPORT.json; rows keep the order of the arguments.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/mxq-dev/mxq/validate"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "fidelitytable:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: fidelitytable LABEL=REPORT.json ...")
	}
	var rows []string
	layers, tokens := 0, 0
	for _, a := range args {
		label, path, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("%q: want LABEL=REPORT.json", a)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var r validate.Report
		if err := json.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if r.Logits == nil {
			return fmt.Errorf("%s: not an end-to-end report", path)
		}
		layers, tokens = max(layers, len(r.Routing)), r.Tokens
		var routing []string
		for _, s := range r.Routing {
			routing = append(routing, fmt.Sprintf("%.1f%%", 100*s.Agreement))
		}
		l := r.Logits
		rows = append(rows, fmt.Sprintf("| %s | %.2f | %.3g | %.3g | %.1f%% | %.2f → %.2f | %s |",
			label, r.Candidate.BitsPerWeight, l.KLD.Mean, l.KLD.P99, 100*l.Top1Agreement,
			l.PerplexityReference, l.PerplexityCandidate, strings.Join(routing, " / ")))
	}
	var lnames []string
	for i := range layers {
		lnames = append(lnames, fmt.Sprint(i))
	}
	fmt.Printf("| output | bits/weight | mean KLD | p99 KLD | top-1 | perplexity ref → cand | routing agreement (layer %s) |\n", strings.Join(lnames, " / "))
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		fmt.Println(r)
	}
	fmt.Printf("\n%d tokens; KLD in nats, KL(reference ‖ candidate); bits/weight counts every stored byte (scales, embeddings and head included).\n", tokens)
	return nil
}
