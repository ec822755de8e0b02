/*
 * Context switch, x86-64 System V.
 *
 *   void *rg__ctx_swap(void **save_sp, void *new_sp, void *arg)
 *
 * Pushes the callee-saved registers and the FP control words (MXCSR, x87
 * control word) on the current stack, stores the stack pointer in *save_sp,
 * loads new_sp, pops the same frame from it and returns arg into the
 * resumed context.  The stack pointer never leaves a valid stack.
 *
 * A new context is a frame made by rg__ctx_init (core/stack.c): its return
 * address is rg__ctx_entry, and rbx holds the task, r12 the entry function.
 */
	.text
	.globl	rg__ctx_swap
	.hidden	rg__ctx_swap
	.type	rg__ctx_swap, @function
	.p2align 4
rg__ctx_swap:
	.cfi_startproc
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	subq	$8, %rsp
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movl	(%rsp), %r8d		/* this context's MXCSR */
	movzwl	4(%rsp), %r9d		/* and x87 control word */
	movq	%rsp, (%rdi)
	movq	%rsi, %rsp
	/* Loading the control words is slow (fldcw serialises the x87
	 * unit): load them only when the resumed context's differ. */
	cmpl	(%rsp), %r8d
	je	1f
	ldmxcsr	(%rsp)
1:	cmpw	4(%rsp), %r9w
	je	2f
	fldcw	4(%rsp)
2:	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	movq	%rdx, %rax
	ret
	.cfi_endproc
	.size	rg__ctx_swap, .-rg__ctx_swap

/* First instruction of every task: entry(task = rbx, arg = rax). */
	.globl	rg__ctx_entry
	.hidden	rg__ctx_entry
	.type	rg__ctx_entry, @function
	.p2align 4
rg__ctx_entry:
	.cfi_startproc
	.cfi_undefined rip
	xorl	%ebp, %ebp
	movq	%rbx, %rdi
	movq	%rax, %rsi
	andq	$-16, %rsp
	call	*%r12
	ud2
	.cfi_endproc
	.size	rg__ctx_entry, .-rg__ctx_entry

	.section .note.GNU-stack,"",@progbits
