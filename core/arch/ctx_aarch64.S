/*
 * Context switch, AArch64 (AAPCS64).
 *
 *   void *rg__ctx_swap(void **save_sp, void *new_sp, void *arg)
 *
 * Saves x19-x30, d8-d15 and FPCR in a 176-byte frame on the current stack,
 * stores sp in *save_sp, switches to new_sp, restores the same frame and
 * returns arg (x0) into the resumed context through its saved x30.
 * A new context (core/stack.c) has x30 = rg__ctx_entry, x19 = the task,
 * x20 = the entry function.
 */
	.text
	.globl	rg__ctx_swap
	.hidden	rg__ctx_swap
	.type	rg__ctx_swap, %function
	.p2align 4
rg__ctx_swap:
	sub	sp, sp, #176
	stp	x19, x20, [sp, #0]
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	mrs	x9, fpcr
	str	x9, [sp, #160]
	mov	x9, sp
	str	x9, [x0]
	mov	sp, x1
	ldp	x19, x20, [sp, #0]
	ldp	x21, x22, [sp, #16]
	ldp	x23, x24, [sp, #32]
	ldp	x25, x26, [sp, #48]
	ldp	x27, x28, [sp, #64]
	ldp	x29, x30, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	ldr	x9, [sp, #160]
	msr	fpcr, x9
	add	sp, sp, #176
	mov	x0, x2
	ret
	.size	rg__ctx_swap, .-rg__ctx_swap

/* First instruction of every task: entry(task = x19, arg = x0). */
	.globl	rg__ctx_entry
	.hidden	rg__ctx_entry
	.type	rg__ctx_entry, %function
	.p2align 4
rg__ctx_entry:
	mov	x1, x0
	mov	x0, x19
	mov	x29, #0
	mov	x30, #0
	blr	x20
	brk	#0
	.size	rg__ctx_entry, .-rg__ctx_entry

	.section .note.GNU-stack,"",%progbits
