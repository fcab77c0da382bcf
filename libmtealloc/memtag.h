/*
 * memtag.h - every MTE instruction libmtealloc issues, and nothing else.
 *
 * On aarch64 these are inline asm (GCC 12's __arm_mte_get_tag() clobbers
 * its argument at -O1 and above, so ACLE intrinsics are not used).  On
 * every other architecture the same functions exist as stubs, so callers
 * never need #ifdefs: the stubs keep tags in the pointer's top byte only,
 * and memory tags always read as 0.  mte_arch_supported() tells the
 * run-time code which variant it got.
 *
 * MTE_ASM_ARCH enables the instructions for the assembler only, so the
 * compiler still generates ARMv8.0 code and the library runs, untagged, on
 * CPUs without MTE.  (gas rejects ".arch_extension memtag" on an armv8-a
 * base, so the directive names the architecture; it is not reset after,
 * which would undo any -march the user built with.)
 */
#ifndef MTEALLOC_MEMTAG_H
#define MTEALLOC_MEMTAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MTE_GRANULE		16UL
#define MTE_TAG_SHIFT		56
#define MTE_TAG_MASK		(0xfUL << MTE_TAG_SHIFT)
#define MTE_NTAGS		16

/* ABI constants, defined here so that non-arm64 builds compile too. */
#define MTE_PROT_MTE		0x20
#define MTE_HWCAP2_MTE		(1UL << 18)
#define MTE_HWCAP2_MTE3		(1UL << 22)
#define MTE_PR_SET_TAGGED_ADDR_CTRL	55
#define MTE_PR_GET_TAGGED_ADDR_CTRL	56
#define MTE_PR_TAGGED_ADDR_ENABLE	(1UL << 0)
#define MTE_PR_TCF_SHIFT		1
#define MTE_PR_TCF_NONE			(0UL << MTE_PR_TCF_SHIFT)
#define MTE_PR_TCF_SYNC			(1UL << MTE_PR_TCF_SHIFT)
#define MTE_PR_TCF_ASYNC		(2UL << MTE_PR_TCF_SHIFT)
#define MTE_PR_TCF_MASK			(3UL << MTE_PR_TCF_SHIFT)
#define MTE_PR_TAG_SHIFT		3
#define MTE_PR_TAG_MASK			(0xffffUL << MTE_PR_TAG_SHIFT)
#define MTE_SEGV_MTEAERR	8
#define MTE_SEGV_MTESERR	9

/* Pointer-tag arithmetic: pure bit operations, the same everywhere. */
static inline unsigned mte_ptr_tag(const void *p)
{
	return (unsigned)(((uintptr_t)p >> MTE_TAG_SHIFT) & 0xf);
}

static inline void *mte_untag(const void *p)
{
	return (void *)((uintptr_t)p & ~(0xffUL << MTE_TAG_SHIFT));
}

static inline void *mte_with_tag(const void *p, unsigned tag)
{
	return (void *)(((uintptr_t)mte_untag(p)) |
			((uintptr_t)(tag & 0xf) << MTE_TAG_SHIFT));
}

#if defined(__aarch64__)

#define MTE_ASM_ARCH ".arch armv8.5-a+memtag\n\t"

static inline bool mte_arch_supported(void)
{
	return true;
}

/* IRG: a random tag for p, never one of the tags set in exclude. */
static inline void *mte_irg(const void *p, uint16_t exclude)
{
	void *out;

	__asm__ volatile(MTE_ASM_ARCH "irg %0, %1, %2"
			 : "=r"(out) : "r"(p), "r"((uint64_t)exclude));
	return out;
}

/* LDG: p with the tag its memory holds.  Never faults on a tag mismatch. */
static inline void *mte_ldg(const void *p)
{
	void *out = (void *)p;

	__asm__ volatile(MTE_ASM_ARCH "ldg %0, [%1]"
			 : "+r"(out) : "r"(p) : "memory");
	return out;
}

static inline unsigned mte_mem_tag(const void *p)
{
	return mte_ptr_tag(mte_ldg(p));
}

/* STG/ST2G: set the memory tag of one/two granules from the pointer's. */
static inline void mte_stg(void *p)
{
	__asm__ volatile(MTE_ASM_ARCH "stg %0, [%0]"
			 : : "r"(p) : "memory");
}

static inline void mte_st2g(void *p)
{
	__asm__ volatile(MTE_ASM_ARCH "st2g %0, [%0]"
			 : : "r"(p) : "memory");
}

/* STZG/STZ2G: as above, and zero the data. */
static inline void mte_stzg(void *p)
{
	__asm__ volatile(MTE_ASM_ARCH "stzg %0, [%0]"
			 : : "r"(p) : "memory");
}

static inline void mte_stz2g(void *p)
{
	__asm__ volatile(MTE_ASM_ARCH "stz2g %0, [%0]"
			 : : "r"(p) : "memory");
}

/* DC GZVA: zero one DCZID-sized block and set its tags. */
static inline void mte_dc_gzva(void *p)
{
	__asm__ volatile(MTE_ASM_ARCH "dc gzva, %0"
			 : : "r"(p) : "memory");
}

static inline void mte_dc_gva(void *p)
{
	__asm__ volatile(MTE_ASM_ARCH "dc gva, %0"
			 : : "r"(p) : "memory");
}

static inline size_t mte_dczid_block(void)
{
	uint64_t dczid;

	__asm__("mrs %0, dczid_el0" : "=r"(dczid));
	if (dczid & (1u << 4))		/* DZP: DC ZVA prohibited */
		return 0;
	return 4UL << (dczid & 0xf);
}

/* TCO: is tag checking suspended on this thread (MRS TCO)? */
static inline bool mte_get_tco(void)
{
	uint64_t v;

	__asm__ volatile(MTE_ASM_ARCH "mrs %0, tco" : "=r"(v));
	return v != 0;
}

/*
 * MTE_UNCHECKED_ENTRY(name, work) defines name(), a function that calls
 * work() with the same arguments (up to eight in registers) and returns
 * its result, with tag checking suspended (PSTATE.TCO) from its first
 * instruction to its last, TCO restored as it was.  Code in C can only
 * suspend checks after its prologue and resume them before its
 * epilogue, and under emulation each checked load or store there, a
 * saved register included, costs a helper call.  A frame record and CFI
 * keep both kinds of unwinding working through it.
 */
#define MTE_UNCHECKED_ENTRY(name, work)					\
	MTE_UNCHECKED_ENTRY_AT(name, work, ".text", "3")

/*
 * ... in the section sect, aligned to 2^align bytes: the first thing in
 * one of internal.h's hot pages (MTE_HOT_PAGE()).
 */
#define MTE_UNCHECKED_ENTRY_AT(name, work, sect, align)			\
	__asm__(".pushsection " sect ", \"ax\", %progbits\n\t"		\
		".p2align " align "\n\t"				\
		".globl " #name "\n\t"					\
		".hidden " #name "\n\t"				\
		".type " #name ", %function\n"				\
		#name ":\n\t"						\
		".cfi_startproc\n\t"					\
		MTE_ASM_ARCH						\
		"mrs x9, tco\n\t"					\
		"msr tco, #1\n\t"					\
		"stp x29, x30, [sp, #-32]!\n\t"			\
		".cfi_def_cfa_offset 32\n\t"				\
		".cfi_offset 29, -32\n\t"				\
		".cfi_offset 30, -24\n\t"				\
		"mov x29, sp\n\t"					\
		"str x9, [sp, #16]\n\t"				\
		"bl " #work "\n\t"					\
		"ldr x9, [sp, #16]\n\t"				\
		"ldp x29, x30, [sp], #32\n\t"				\
		".cfi_restore 30\n\t"					\
		".cfi_restore 29\n\t"					\
		".cfi_def_cfa_offset 0\n\t"				\
		"cbnz x9, 1f\n\t"					\
		"msr tco, #0\n"						\
		"1:\tret\n\t"						\
		".cfi_endproc\n\t"					\
		".size " #name ", .-" #name "\n\t"			\
		".popsection\n")

#else /* !__aarch64__: stubs */

/* No tag checks to suspend: name is another name for work. */
#define MTE_UNCHECKED_ENTRY(name, work)					\
	__asm__(".globl " #name "\n\t"					\
		".hidden " #name "\n\t"				\
		".set " #name ", " #work "\n")
#define MTE_UNCHECKED_ENTRY_AT(name, work, sect, align)			\
	MTE_UNCHECKED_ENTRY(name, work)

static inline bool mte_arch_supported(void)
{
	return false;
}

static inline void *mte_irg(const void *p, uint16_t exclude)
{
	unsigned t;

	/* Deterministic and never excluded: enough for a build without MTE. */
	for (t = 1; t < MTE_NTAGS; t++)
		if (!(exclude & (1u << t)))
			return mte_with_tag(p, t);
	return mte_with_tag(p, 0);
}

static inline void *mte_ldg(const void *p)
{
	return mte_untag(p);
}

static inline unsigned mte_mem_tag(const void *p)
{
	(void)p;
	return 0;
}

static inline void mte_stg(void *p) { (void)p; }
static inline void mte_st2g(void *p) { (void)p; }
static inline void mte_stzg(void *p) { memset(mte_untag(p), 0, 16); }
static inline void mte_stz2g(void *p) { memset(mte_untag(p), 0, 32); }
static inline void mte_dc_gzva(void *p) { (void)p; }
static inline void mte_dc_gva(void *p) { (void)p; }
static inline size_t mte_dczid_block(void) { return 0; }
static inline bool mte_get_tco(void) { return false; }

#endif /* __aarch64__ */

/*
 * Set the memory tag of [p, p + len) to p's tag, and with zero also zero
 * it, in one pass: granule by granule up to a DCZID block boundary, then
 * a whole block per DC GVA (DC GZVA), then pairs of granules per ST2G
 * (STZ2G) for the tail.  p and len are granule aligned.
 */
static inline void mte_tag_blocks(void *p, size_t len, bool zero)
{
	char *c = p, *end = c + len;
	size_t bs = len >= 256 ? mte_dczid_block() : 0;

	if (bs && len >= 4 * bs) {
		for (; ((uintptr_t)c & (bs - 1)) && c < end; c += MTE_GRANULE)
			zero ? mte_stzg(c) : mte_stg(c);
		for (; c + bs <= end; c += bs)
			zero ? mte_dc_gzva(c) : mte_dc_gva(c);
	}
	for (; c + 2 * MTE_GRANULE <= end; c += 2 * MTE_GRANULE)
		zero ? mte_stz2g(c) : mte_st2g(c);
	if (c < end)
		zero ? mte_stzg(c) : mte_stg(c);
}

/* Set the memory tag of [p, p + len) to p's tag. */
static inline void mte_tag_range(void *p, size_t len)
{
	mte_tag_blocks(p, len, false);
}

/* The same, zeroing the memory too; on stubs this is memset. */
static inline void mte_tag_zero_range(void *p, size_t len)
{
	if (!mte_arch_supported()) {
		memset(mte_untag(p), 0, len);
		return;
	}
	mte_tag_blocks(p, len, true);
}

#endif /* MTEALLOC_MEMTAG_H */
