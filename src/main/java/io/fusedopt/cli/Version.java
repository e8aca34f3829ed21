package io.fusedopt.cli;

import picocli.CommandLine;

/** The version from the jar manifest (or "development" when run from classes). */
public final class Version implements CommandLine.IVersionProvider {
    /** The version string. */
    public static String get() {
        String v = Version.class.getPackage().getImplementationVersion();
        return v == null ? "development" : v;
    }

    @Override
    public String[] getVersion() {
        return new String[] {"fusedopt " + get()};
    }
}
