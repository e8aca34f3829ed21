package io.fusedopt.checkpoint;

import java.util.Locale;

/**
 * Makes text read from a file safe to print: every character that a terminal could act on rather than show
 * (control characters such as ESC, BEL, NUL and line breaks; format characters such as the bidirectional
 * overrides; line and paragraph separators; unassigned, private-use and unpaired surrogate code points) is written
 * as {@code \}{@code uXXXX} ({@code \}{@code UXXXXXXXX} above U+FFFF). Used for every checkpoint problem message and
 * for everything {@code inspect} and {@code verify} print from a file.
 */
public final class Printable {
    private Printable() {
    }

    /**
     * {@code s} with every non-printable character escaped; the result holds only printable characters and
     * spaces, so it stays on one line. Null becomes {@code "null"}.
     */
    public static String escape(String s) {
        if (s == null) {
            return "null";
        }
        if (s.codePoints().allMatch(Printable::printable)) {
            return s;
        }
        StringBuilder b = new StringBuilder(s.length() + 16);
        s.codePoints().forEach(cp -> {
            if (printable(cp)) {
                b.appendCodePoint(cp);
            } else if (cp <= 0xFFFF) {
                b.append(String.format(Locale.ROOT, "\\u%04x", cp));
            } else {
                b.append(String.format(Locale.ROOT, "\\U%08x", cp));
            }
        });
        return b.toString();
    }

    private static boolean printable(int cp) {
        if (cp == ' ') {
            return true;
        }
        if (Character.isISOControl(cp) || Character.isWhitespace(cp)) {
            return false;
        }
        return switch (Character.getType(cp)) {
            case Character.FORMAT, Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR, Character.UNASSIGNED,
                    Character.PRIVATE_USE, Character.SURROGATE, Character.SPACE_SEPARATOR -> false;
            default -> true;
        };
    }
}
