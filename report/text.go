package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/mxq-dev/mxq/internal/safetext"
)

// WriteText renders the report as tables. maxTensors limits the per-tensor
// table (0: all).
func (r *Report) WriteText(w io.Writer, maxTensors int) error {
	var b strings.Builder
	verb := "wrote"
	if r.DryRun {
		verb = "plan for"
	}
	fmt.Fprintf(&b, "%s %s (%s %s) from %s\n", verb, safetext.Name(r.Output), r.Format, r.Target, safetext.Name(r.Source))
	fmt.Fprintf(&b, "  %d tensors, %s parameters, tensor data %s (%.3f bits per weight)\n",
		len(r.Tensors), commas(r.Params), bytesGiB(r.TensorBytes), r.BitsPerWeight)
	if !r.DryRun {
		fmt.Fprintf(&b, "  file size %s\n", bytesGiB(r.OutputBytes))
		for _, f := range r.Files {
			fmt.Fprintf(&b, "  sha256 %s  %s\n", f.SHA256, safetext.Name(f.Path))
		}
	}

	b.WriteString("\nBy role (rel = ‖W−Ŵ‖/‖W‖, matmul = relative error of W·x over seeded probes):\n")
	tw := tabwriter.NewWriter(&b, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "role\ttensors\tparams\tbytes\tbpw\tmean rel\tworst rel\tmean matmul\tmin cosine\t")
	for _, ro := range r.Roles {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%.3f\t%.3e\t%.3e\t%.3e\t%.6f\t\n", ro.Role, ro.Tensors, commas(ro.Params),
			commas(ro.Bytes), ro.BitsPerWeight, ro.MeanRelFrobenius, ro.WorstRelFrobenius, ro.MeanMatmulRel, ro.MinCosine)
	}
	tw.Flush()

	// With an importance matrix the tables add the error it weights
	// (imatrix_weighted_error) where a tensor has one.
	weighted := slices.ContainsFunc(r.Tensors, func(t Tensor) bool { return t.Metrics.ImatrixError != nil })
	if len(r.Experts) > 0 {
		n := min(len(r.Experts), 8)
		fmt.Fprintf(&b, "\nExperts that lost most (worst matmul error first, %d of %d):\n", n, len(r.Experts))
		tw = tabwriter.NewWriter(&b, 2, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "layer\texpert\tmean rel\tworst matmul\tin\tmin cosine\t")
		if weighted {
			fmt.Fprint(tw, "worst imatrix\t")
		}
		fmt.Fprintln(tw)
		for _, e := range r.Experts[:n] {
			fmt.Fprintf(tw, "%d\t%d\t%.3e\t%.3e\t%s\t%.6f\t", e.Layer, e.Expert, e.MeanRelFrobenius, e.WorstMatmulRel, e.WorstProjection, e.MinCosine)
			if weighted {
				fmt.Fprintf(tw, "%s\t", optional(e.WorstImatrixError))
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
	}

	tensors := r.Tensors
	if maxTensors > 0 && len(tensors) > maxTensors {
		tensors = tensors[:maxTensors]
	}
	fmt.Fprintf(&b, "\nTensors (%d of %d):\n", len(tensors), len(r.Tensors))
	tw = tabwriter.NewWriter(&b, 2, 0, 2, ' ', 0)
	if weighted {
		fmt.Fprintln(tw, "name\ttype\tshape\trel\tmatmul\tcosine\timatrix\trule")
	} else {
		fmt.Fprintln(tw, "name\ttype\tshape\trel\tmatmul\tcosine\trule")
	}
	for _, t := range tensors {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%.3e\t%.3e\t%.6f\t", safetext.Name(t.Name), t.Type, t.Shape, t.Metrics.RelFrobenius,
			t.Metrics.MatmulRelError, t.Metrics.Cosine)
		if weighted {
			fmt.Fprintf(tw, "%s\t", optional(t.Metrics.ImatrixError))
		}
		fmt.Fprintf(tw, "%s\n", safetext.Name(t.Rule))
	}
	tw.Flush()

	if r.Thresholds != (Thresholds{}) {
		fmt.Fprintf(&b, "\nThresholds: max rel error %g, min cosine %g: ", r.Thresholds.MaxRelError, r.Thresholds.MinCosine)
		if r.DryRun {
			b.WriteString("checked when the output is written\n")
		} else if len(r.Breaches) == 0 {
			b.WriteString("all tensors pass\n")
		} else {
			fmt.Fprintf(&b, "%d breaches\n", len(r.Breaches))
			for _, br := range r.Breaches {
				fmt.Fprintf(&b, "  %s: %s %.6g (threshold %g)\n", safetext.Name(br.Tensor), br.Metric, br.Value, br.Threshold)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func commas(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func bytesGiB(n int64) string {
	return fmt.Sprintf("%s bytes (%.2f GiB)", commas(n), float64(n)/(1<<30))
}

// optional formats a measurement that may be absent ("-").
func optional(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.3e", *v)
}
