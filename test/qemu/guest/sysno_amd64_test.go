//go:build guest

package guest

const sysProcessVMReadv = 310
