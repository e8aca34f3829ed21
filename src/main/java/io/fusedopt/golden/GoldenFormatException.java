package io.fusedopt.golden;

/** A golden case file cannot be read or breaks the format; the message names the file and the field. */
public class GoldenFormatException extends Exception {
    private static final long serialVersionUID = 1L;

    /** Creates the exception for {@code file}, field path {@code field}, and what is wrong. */
    public GoldenFormatException(String file, String field, String problem) {
        super(file + ": " + (field.isEmpty() ? "" : field + ": ") + problem);
    }
}
