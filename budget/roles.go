package budget

import "github.com/mxq-dev/mxq/model"

// roleSensitivity is the output damage per unit of relative squared weight
// error × elements, by role, relative to the expert up projection. It was
// measured on testdata/tiny-mixtral by scripts/planner-sensitivity.sh: all
// tensors Q8_0 but one role at a time in TYPE, then mxq validate (the
// built-in paragraph, 213 tokens) against the checkpoint; sensitivity =
// (KL mean − KL mean of the all-Q8_0 file) / Σ (rel² × elements) of the
// role's tensors, divided by the expert up projection's. The figures with
// TYPE = Q2_K and Q4_K, and the geometric mean used here:
//
//	role           Q2_K    Q4_K   used
//	token_embd    37.57   59.77  47.39
//	output         9.43    6.24   7.67
//	attn_q         3.85    5.85   4.75
//	attn_k         8.76    6.75   7.69
//	attn_v        17.98   22.92  20.30
//	attn_output    7.52   10.02   8.68
//	ffn_gate_exps  1.27    0.91   1.07
//	ffn_down_exps  1.04    0.77   0.89
//	ffn_up_exps    1.00    1.00   1.00
//
// (ffn_up_exps: ΔKL 0.0335 nats for Σ rel²·n = 184,252 in Q2_K, 0.00292
// for 10,626 in Q4_K.) Per unit of error the embedding and the attention
// matter far more than the experts, whose three projections weigh about
// the same; the experts' size is what makes them the place to save bits.
var roleSensitivity = map[model.Role]float64{
	model.RoleEmbedding:  47.39,
	model.RoleOutput:     7.67,
	model.RoleAttnQ:      4.75,
	model.RoleAttnK:      7.69,
	model.RoleAttnV:      20.30,
	model.RoleAttnOutput: 8.68,
	model.RoleExpertGate: 1.07,
	model.RoleExpertDown: 0.89,
	model.RoleExpertUp:   1.00,
	// Dense feed-forward layers are not in the tiny model; they are
	// taken as the experts' projections.
	model.RoleFFNGate: 1.07,
	model.RoleFFNDown: 0.89,
	model.RoleFFNUp:   1.00,
}

// RoleSensitivity is the weight of a role's error in the damage; 1 for
// roles not measured.
func RoleSensitivity(r model.Role) float64 {
	if s, ok := roleSensitivity[r]; ok {
		return s
	}
	return 1
}
