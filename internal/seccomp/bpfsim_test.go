package seccomp

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// simulate runs a classic BPF seccomp program, as CompileBPF writes it, on
// one system call and returns the filter's verdict (SECCOMP_RET_*). It is
// how the tests check a filter for an architecture this machine cannot
// load it on: the kernel's own interpreter is the reference, and the
// tests compare the two on the host's architecture.
//
// Both architectures Bulwark builds for are little-endian, so the program
// and struct seccomp_data are read and written in that order.
func simulate(prog []byte, sc seccompData) (uint32, error) {
	if len(prog) == 0 || len(prog)%8 != 0 {
		return 0, fmt.Errorf("program is %d bytes, not a whole number of instructions", len(prog))
	}
	data := sc.bytes()
	var a, x uint32
	var mem [16]uint32 // BPF_MEMWORDS
	le := binary.LittleEndian
	for pc := 0; pc < len(prog)/8; pc++ {
		ins := prog[pc*8:]
		code, jt, jf, k := le.Uint16(ins), int(ins[2]), int(ins[3]), le.Uint32(ins[4:])
		bad := fmt.Errorf("instruction %d: unsupported opcode %#x", pc, code)
		src := k
		if code&unix.BPF_X != 0 {
			src = x
		}
		switch code & 0x07 {
		case unix.BPF_LD:
			switch code {
			case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
				if k%4 != 0 || int(k)+4 > len(data) {
					return 0, fmt.Errorf("instruction %d: load from offset %d", pc, k)
				}
				a = le.Uint32(data[k:])
			case unix.BPF_LD | unix.BPF_W | unix.BPF_LEN:
				a = uint32(len(data))
			case unix.BPF_LD | unix.BPF_IMM:
				a = k
			case unix.BPF_LD | unix.BPF_MEM:
				a = mem[k%16]
			default:
				return 0, bad
			}
		case unix.BPF_LDX:
			switch code {
			case unix.BPF_LDX | unix.BPF_W | unix.BPF_IMM:
				x = k
			case unix.BPF_LDX | unix.BPF_W | unix.BPF_LEN:
				x = uint32(len(data))
			case unix.BPF_LDX | unix.BPF_W | unix.BPF_MEM:
				x = mem[k%16]
			default:
				return 0, bad
			}
		case unix.BPF_ST:
			mem[k%16] = a
		case unix.BPF_STX:
			mem[k%16] = x
		case unix.BPF_ALU:
			switch code & 0xf0 {
			case unix.BPF_ADD:
				a += src
			case unix.BPF_SUB:
				a -= src
			case unix.BPF_MUL:
				a *= src
			case unix.BPF_DIV, unix.BPF_MOD:
				if src == 0 {
					return 0, nil // the kernel's answer to a division by zero: kill
				}
				if code&0xf0 == unix.BPF_DIV {
					a /= src
				} else {
					a %= src
				}
			case unix.BPF_OR:
				a |= src
			case unix.BPF_AND:
				a &= src
			case unix.BPF_XOR:
				a ^= src
			case unix.BPF_LSH:
				a <<= src
			case unix.BPF_RSH:
				a >>= src
			case unix.BPF_NEG:
				a = -a
			default:
				return 0, bad
			}
		case unix.BPF_JMP:
			var taken bool
			switch code & 0xf0 {
			case unix.BPF_JA:
				pc += int(k)
				continue
			case unix.BPF_JEQ:
				taken = a == src
			case unix.BPF_JGT:
				taken = a > src
			case unix.BPF_JGE:
				taken = a >= src
			case unix.BPF_JSET:
				taken = a&src != 0
			default:
				return 0, bad
			}
			if taken {
				pc += jt
			} else {
				pc += jf
			}
		case unix.BPF_RET:
			switch code & 0x18 {
			case unix.BPF_K:
				return k, nil
			case unix.BPF_A:
				return a, nil
			}
			return 0, bad
		case unix.BPF_MISC:
			switch code & 0xf8 {
			case unix.BPF_TAX:
				x = a
			case unix.BPF_TXA:
				a = x
			default:
				return 0, bad
			}
		}
	}
	return 0, fmt.Errorf("the program ran past its end")
}

// seccompData is struct seccomp_data: what a filter sees of a call.
type seccompData struct {
	nr   int32
	arch uint32 // AUDIT_ARCH_*
	ip   uint64
	args [6]uint64
}

func (s seccompData) bytes() []byte {
	b := make([]byte, 64)
	le := binary.LittleEndian
	le.PutUint32(b, uint32(s.nr))
	le.PutUint32(b[4:], s.arch)
	le.PutUint64(b[8:], s.ip)
	for i, a := range s.args {
		le.PutUint64(b[16+8*i:], a)
	}
	return b
}

// verdict names a filter's answer the way the probes name the kernel's:
// "allow", an errno name such as "EPERM", or the action.
func verdict(ret uint32) string {
	switch ret & unix.SECCOMP_RET_ACTION_FULL {
	case unix.SECCOMP_RET_ALLOW:
		return "allow"
	case unix.SECCOMP_RET_ERRNO:
		return unix.ErrnoName(unix.Errno(ret & unix.SECCOMP_RET_DATA))
	case unix.SECCOMP_RET_KILL_PROCESS:
		return "kill process"
	case unix.SECCOMP_RET_KILL_THREAD:
		return "kill thread"
	case unix.SECCOMP_RET_TRAP:
		return "trap"
	case unix.SECCOMP_RET_TRACE:
		return "trace"
	case unix.SECCOMP_RET_LOG:
		return "log"
	case unix.SECCOMP_RET_USER_NOTIF:
		return "notify"
	}
	return fmt.Sprintf("%#x", ret)
}
