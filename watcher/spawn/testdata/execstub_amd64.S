# Source of execStubCode (../execstub_amd64.go). To rebuild the bytes:
#   as --64 -o stub.o execstub_amd64.S && objcopy -O binary -j .text stub.o stub.bin
#   objdump -d -M intel stub.o   # the instructions listed in the Go table
# The Go tests check what the stub does on real processes; they need no
# assembler.
# poold's exec stub, amd64. Entered by execve with:
#   argv[0] = control: 'L' or '-' (set LISTEN_PID or not), the decimal fd
#             of the stub itself to close, then optionally 'u' and an octal
#             umask, then optionally 'w': "L7", "-7u0022", "L7u0027w"
#   argv[1] = the worker's path, argv[2...] = the worker's argv
#   envp    = the worker's environment; with 'L', one entry is
#             "LISTEN_PID=XXXXXXXXXX" (10 placeholder bytes)
# With 'w' it first writes one byte ('w') to the status pipe, the fd after
# its own, which tells poold that the stub's own exec is over (the kernel
# writes the stack limit it started with back at the end of an exec, so
# one poold set before would be lost), then reads one byte from the fd two
# after its own (poold writes it once it has set the worker's rlimits,
# nice and oom_score_adj from outside) and closes that fd; it exits 127
# if either fails.
# It overwrites the placeholder with its pid and a NUL, sets the umask,
# closes its own fd, makes the fd after it (poold's status pipe)
# close-on-exec and execs the worker in the same process. If the exec
# fails it ignores SIGPIPE, writes "poold-exec: exec PATH: REASON\n" on
# fd 2, then the errno (4 bytes, native order) to the status pipe, and
# exits 127: the reason reaches the worker's stderr, and the exit is 127,
# even when poold no longer reads the status pipe.
	.intel_syntax noprefix
	.text
	.globl _start
_start:
	mov	rbx, [rsp]		# argc
	lea	r12, [rsp+8]		# argv
	lea	r13, [r12+rbx*8+8]	# envp
	cmp	rbx, 3
	jb	usage
	mov	rsi, [r12]		# control
	movzx	r14d, byte ptr [rsi]	# 'L' or '-'
	inc	rsi
	mov	ecx, 10
	call	parse			# eax = our fd
	mov	r15d, eax
	cmp	byte ptr [rsi], 'u'
	jne	1f
	inc	rsi
	mov	ecx, 8
	call	parse
	mov	edi, eax
	mov	eax, 95			# umask
	syscall
1:	cmp	byte ptr [rsi], 'w'
	jne	8f
	mov	byte ptr [rsp-8], 'w'	# (the red zone: no call in between)
	lea	edi, [r15+1]		# the status pipe: our own exec is over,
	lea	rsi, [rsp-8]		# with the stack limit it wrote back, so
	mov	edx, 1			# poold may set ours now
	mov	eax, 1			# write
	syscall
	cmp	eax, 1
	jne	exit127
	lea	edi, [r15+2]		# the go pipe, after the status pipe:
	lea	rsi, [rsp-8]		# (the red zone: no call in between)
	mov	edx, 1
	xor	eax, eax		# read, until poold has set the rest
	syscall
	cmp	eax, 1			# EOF or an error: poold gave up
	jne	exit127
	lea	edi, [r15+2]
	mov	eax, 3			# close
	syscall
8:	mov	edi, r15d
	mov	eax, 3			# close
	syscall
	lea	edi, [r15+1]		# the status pipe, after our fd:
	mov	esi, 2			# F_SETFD
	mov	edx, 1			# FD_CLOEXEC, so a good exec closes it
	mov	eax, 72			# fcntl (EBADF when there is none)
	syscall
	cmp	r14b, 'L'
	jne	exec
	mov	eax, 39			# getpid
	syscall
	mov	rdi, r13
	movabs	rcx, 0x505f4e455453494c	# "LISTEN_P"
2:	mov	rsi, [rdi]
	test	rsi, rsi
	jz	exec			# no placeholder: nothing to set
	add	rdi, 8
	cmp	[rsi], rcx
	jne	2b
	cmp	dword ptr [rsi+8], 0x583d4449	# "ID=X"
	jne	2b
	lea	rdi, [rsi+11]
	call	utoa			# pid and NUL over the placeholder
exec:
	mov	rdi, [r12+8]		# path
	lea	rsi, [r12+16]		# argv
	mov	rdx, r13		# envp
	mov	eax, 59			# execve
	syscall
	neg	eax			# errno
	mov	ebx, eax
	push	0			# sa_mask, sa_restorer, sa_flags,
	push	0
	push	0
	push	1			# sa_handler = SIG_IGN:
	mov	edi, 13			# SIGPIPE, so that a write to a pipe with
	mov	rsi, rsp		# no reader left (poold gave up waiting)
	xor	edx, edx		# fails rather than kills us unheard
	mov	r10d, 8
	mov	eax, 13			# rt_sigaction
	syscall
	sub	rsp, 4352		# message buffer
	mov	rdi, rsp
	lea	r9, [rsp+4350]		# room for "\n"
	lea	rsi, [rip+m_exec]
	call	append
	mov	rsi, [r12+8]
	call	append
	lea	rsi, [rip+m_colon]
	call	append
	lea	rsi, [rip+errnos]	# {errno, text\0}..., 0
3:	movzx	eax, byte ptr [rsi]
	test	eax, eax
	jz	4f
	inc	rsi
	cmp	eax, ebx
	je	5f
6:	lodsb				# skip this text
	test	al, al
	jnz	6b
	jmp	3b
4:	lea	rsi, [rip+m_errno]
	call	append
	mov	eax, ebx
	mov	r10, rdi
	sub	rsp, 16			# digits, then copied into the message
	mov	rdi, rsp
	call	utoa
	mov	rsi, rsp
	mov	rdi, r10
	call	append
	add	rsp, 16
	jmp	7f
5:	call	append
7:	mov	byte ptr [rdi], 10
	inc	rdi
	mov	rdx, rdi
	sub	rdx, rsp		# length
	mov	rsi, rsp
	mov	edi, 2
	mov	eax, 1			# write, the reason first: poold may have
	syscall				# stopped reading the status pipe
	mov	[rsp], ebx		# errno, 4 bytes, to the status pipe
	lea	edi, [r15+1]
	mov	rsi, rsp
	mov	edx, 4
	mov	eax, 1			# write
	syscall
exit127:
	mov	edi, 127
	mov	eax, 231		# exit_group
	syscall
usage:
	mov	edi, 2
	lea	rsi, [rip+m_usage]
	mov	edx, m_usage_end - m_usage
	mov	eax, 1
	syscall
	jmp	exit127

# parse: the unsigned number in base ecx at rsi into eax; rsi ends on the
# first byte that is not a digit.
parse:
	xor	eax, eax
1:	movzx	edx, byte ptr [rsi]
	sub	edx, '0'
	cmp	edx, 9
	ja	2f
	imul	eax, ecx
	add	eax, edx
	inc	rsi
	jmp	1b
2:	ret

# utoa: eax in decimal and a NUL at rdi; rdi ends on the NUL.
utoa:
	mov	ecx, 10
	mov	r8, rdi
1:	xor	edx, edx		# digits, lowest first
	div	ecx
	add	dl, '0'
	mov	[rdi], dl
	inc	rdi
	test	eax, eax
	jnz	1b
	mov	byte ptr [rdi], 0
	lea	rdx, [rdi-1]		# reverse them
2:	cmp	r8, rdx
	jae	3f
	mov	al, [r8]
	mov	cl, [rdx]
	mov	[r8], cl
	mov	[rdx], al
	inc	r8
	dec	rdx
	jmp	2b
3:	ret

# append: copy the string at rsi to rdi, stopping before r9; rdi ends
# after the last byte copied.
append:
1:	cmp	rdi, r9
	jae	2f
	lodsb
	test	al, al
	jz	2f
	stosb
	jmp	1b
2:	ret

m_exec:	.asciz	"poold-exec: exec "
m_colon: .asciz	": "
m_errno: .asciz	"errno "
errnos:
	.byte	2
	.asciz	"no such file or directory"
	.byte	13
	.asciz	"permission denied"
	.byte	8
	.asciz	"exec format error"
	.byte	20
	.asciz	"not a directory"
	.byte	21
	.asciz	"is a directory"
	.byte	26
	.asciz	"text file busy"
	.byte	40
	.asciz	"too many levels of symbolic links"
	.byte	7
	.asciz	"argument list too long"
	.byte	12
	.asciz	"cannot allocate memory"
	.byte	0
m_usage: .ascii	"poold-exec: want CONTROL PATH ARGV0 [ARG...]: this program is started by poold only\n"
m_usage_end:
