// Minimal x86-64 System V context switch for the stand-in's CUDA-thread
// fibers. Only callee-saved registers are kept: every switch happens at a
// call boundary, so the caller has already saved everything else. MXCSR and
// the x87 control word are left alone because kernels never change them.

    .text

// void emu_switch_context(void** save_sp, void* target_sp)
    .globl emu_switch_context
    .hidden emu_switch_context
    .type emu_switch_context, @function
emu_switch_context:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .cfi_endproc
    .size emu_switch_context, .-emu_switch_context

// First code a fresh fiber runs: its Fiber* was planted in r12 by the
// initial frame. emu_fiber_main never returns.
    .globl emu_fiber_trampoline
    .hidden emu_fiber_trampoline
    .type emu_fiber_trampoline, @function
emu_fiber_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq %r12, %rdi
    call emu_fiber_main
    ud2
    .cfi_endproc
    .size emu_fiber_trampoline, .-emu_fiber_trampoline

    .section .note.GNU-stack,"",@progbits
