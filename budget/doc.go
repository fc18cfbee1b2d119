// Package budget chooses a ggml type for every tensor of a GGUF so that
// the file fits a size budget with the least expected damage.
//
// Each quantizable tensor (a merged expert tensor is one: GGUF cannot mix
// types inside a tensor) may take any type of a ladder whose block divides
// its rows. The damage of a choice is the tensor's relative squared error
// under that type — measured by quantizing a seeded sample of its rows,
// weighted by the importance matrix when there is one — times its element
// count, times the routing frequency of each expert, times a per-role
// sensitivity measured on the tiny model (see RoleSensitivity). Picking
// one choice per tensor under a byte budget is a multiple-choice knapsack,
// solved by dynamic programming over the budget in small units, each size
// rounded up so the answer always fits, then repaired greedily with exact
// sizes to use the slack the rounding left.
package budget
