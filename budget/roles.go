package budget

import "github.com/mxq-dev/mxq/model"

// roleSensitivity is the output damage per unit of relative squared weight
// error × elements, by role, relative to the expert up projection.
var roleSensitivity = map[model.Role]float64{}

// RoleSensitivity is the weight of a role's error in the damage; 1 for
// roles not measured.
func RoleSensitivity(r model.Role) float64 {
	if s, ok := roleSensitivity[r]; ok {
		return s
	}
	return 1
}
