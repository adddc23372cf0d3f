import java.security.KeyStore;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

// Hello world, and the number of CAs in the JVM's default trust store (the generated
// /etc/ssl/certs/java/cacerts): zero would mean the store did not load.
public class Check {
    public static void main(String[] args) throws Exception {
        System.out.println("hello from java " + System.getProperty("java.version"));
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init((KeyStore) null);
        int trusted = 0;
        for (TrustManager m : factory.getTrustManagers()) {
            if (m instanceof X509TrustManager) {
                trusted += ((X509TrustManager) m).getAcceptedIssuers().length;
            }
        }
        System.out.println("trusted " + trusted);
    }
}
