package model

import (
	"fmt"
	"regexp"
	"strconv"
)

// mlxProjections are the stacked expert modules of mlx-lm's SwitchGLU, as
// its mixtral.py sanitize builds them from experts.E.w1/w2/w3.
var mlxProjections = map[Role]string{
	RoleExpertGate: "gate_proj",
	RoleExpertDown: "down_proj",
	RoleExpertUp:   "up_proj",
}

var mlxExpertModule = regexp.MustCompile(`^model\.layers\.([0-9]{1,6})\.block_sparse_moe\.switch_mlp\.(gate_proj|down_proj|up_proj)$`)

// MLXExpertModule names the module under which mlx-lm stacks the weights of
// every expert of role r in layer, or "" when r is not an expert
// projection.
func MLXExpertModule(layer int, r Role) string {
	proj, ok := mlxProjections[r]
	if !ok {
		return ""
	}
	return fmt.Sprintf("model.layers.%d.block_sparse_moe.switch_mlp.%s", layer, proj)
}

// ClassifyMLXExpertModule is the inverse of MLXExpertModule.
func ClassifyMLXExpertModule(module string) (layer int, r Role, ok bool) {
	m := mlxExpertModule.FindStringSubmatch(module)
	if m == nil {
		return 0, RoleUnknown, false
	}
	layer, _ = strconv.Atoi(m[1])
	for role, proj := range mlxProjections {
		if proj == m[2] {
			return layer, role, true
		}
	}
	return 0, RoleUnknown, false
}
